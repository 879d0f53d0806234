package stream

// hubRoom is a named group of a hub's connections.
type hubRoom struct {
	list []*hubConn // each member's position is in its rooms map
}

// Join adds c to room, creating the room if needed, and reports whether
// c is a registered connection of the hub (only those can join). Joining
// a room twice has no further effect. Safe for concurrent use.
func (h *Hub) Join(room string, c *WebSocketConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	hc := h.byConn[c]
	if hc == nil {
		return false
	}
	if _, ok := hc.rooms[room]; ok {
		return true
	}
	r := h.rooms[room]
	if r == nil {
		r = &hubRoom{}
		h.rooms[room] = r
	}
	if hc.rooms == nil {
		hc.rooms = make(map[string]int)
	}
	hc.rooms[room] = len(r.list)
	r.list = append(r.list, hc)
	return true
}

// Leave removes c from room and reports whether it was a member. A room
// left empty is freed. A connection that closes or is unregistered
// leaves all its rooms by itself. Safe for concurrent use.
func (h *Hub) Leave(room string, c *WebSocketConn) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	hc := h.byConn[c]
	if hc == nil {
		return false
	}
	if _, ok := hc.rooms[room]; !ok {
		return false
	}
	h.leave(room, hc)
	return true
}

// leave takes hc, a member, out of room; h.mu is held.
func (h *Hub) leave(room string, hc *hubConn) {
	r := h.rooms[room]
	i := hc.rooms[room]
	last := len(r.list) - 1
	moved := r.list[last]
	r.list[i] = moved
	moved.rooms[room] = i
	delete(hc.rooms, room) // after the move, which may be hc itself
	r.list[last] = nil
	r.list = r.list[:last]
	if len(r.list) == 0 {
		delete(h.rooms, room)
	}
}

// leaveAll takes hc out of every room; h.mu is held.
func (h *Hub) leaveAll(hc *hubConn) {
	for room := range hc.rooms {
		h.leave(room, hc)
	}
	hc.rooms = nil
}

// BroadcastTo queues msg for every member of room, like Broadcast, and
// reports whether it was queued for all of them; a room without members
// gives true. See Broadcast for when it returns false.
func (h *Hub) BroadcastTo(room string, msg []byte) bool {
	return h.send(sendRoom, room, h.set.mt, msg, nil) == nil
}

// Members returns a snapshot of room's connections, nil for a room
// without members. Safe for concurrent use.
func (h *Hub) Members(room string) []*WebSocketConn {
	h.mu.RLock()
	defer h.mu.RUnlock()
	r := h.rooms[room]
	if r == nil {
		return nil
	}
	out := make([]*WebSocketConn, len(r.list))
	for i, hc := range r.list {
		out[i] = hc.c
	}
	return out
}
