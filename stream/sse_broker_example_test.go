package stream_test

import (
	"bufio"
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"

	"github.com/stdrealtime/realtime/stream"
)

func ExampleSSEBroker() {
	broker := stream.NewSSEBroker(stream.SSEBrokerConfig{Topic: "prices"})
	mux := http.NewServeMux()
	mux.Handle("GET /events", broker)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer broker.Close() // ends the streams, so that the server can stop

	// In a browser: new EventSource("/events?event=price").
	resp, err := http.Get(srv.URL + "/events?event=price")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	// The response headers arrive once the subscriber is registered.

	broker.Publish(stream.Event{Type: stream.Custom, Name: "news", Data: "not asked for"})
	broker.Publish(stream.Event{Type: stream.Custom, Name: "price", Data: `{"ACME":101.25}`})

	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && sc.Text() != "" {
		fmt.Println(sc.Text())
	}
	// Output:
	// event: price
	// data: {"ACME":101.25}
}

// A client that reconnects with the ID of the last event it saw receives
// what it missed, then live events.
func ExampleSSEBroker_resume() {
	broker := stream.NewSSEBroker(stream.SSEBrokerConfig{Replay: 100})
	srv := httptest.NewServer(broker)
	defer srv.Close()
	defer broker.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		log.Fatal(err)
	}
	broker.Publish(stream.Event{Data: "one"})
	var lastID string // what a browser keeps as lastEventId
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() && sc.Text() != "data: one" {
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			lastID = id
		}
	}
	resp.Body.Close() // the connection drops...

	broker.Publish(stream.Event{Data: "two"}) // ...and misses this one

	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Last-Event-ID", lastID) // EventSource sends it by itself
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	broker.Publish(stream.Event{Data: "three"})

	sc = bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			fmt.Println(data)
			if data == "three" {
				break
			}
		}
	}
	// Output:
	// two
	// three
}

func ExampleSSEBroker_PublishFrom() {
	broker := stream.NewSSEBroker(stream.SSEBrokerConfig{})
	defer broker.Close()

	ticks := make(chan stream.Event)
	go func() {
		defer close(ticks)
		for i := range 3 {
			ticks <- stream.Event{Type: stream.Custom, Name: "tick", Data: strconv.Itoa(i)}
		}
	}()
	// Returns when ticks is closed, the context ends or the broker closes.
	if err := broker.PublishFrom(context.Background(), ticks); err != nil {
		log.Print(err)
	}
	fmt.Println(broker.Stats().Published, "published")
	// Output: 3 published
}
