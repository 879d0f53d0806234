package stream_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/stdrealtime/realtime/stream"
)

// Reading an event stream from any io.Reader, such as the body of a
// streaming API's response.
func ExampleEventReader() {
	body := strings.NewReader("retry: 5000\r\n" +
		": a comment\r\n" +
		"id: 7\r\n" +
		"event: token\r\n" +
		"data: Hello\r\n" +
		"data: world\r\n" +
		"\r\n" +
		"data: [DONE]\r\n\r\n")
	r := stream.NewEventReader(body)
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("type=%v name=%q id=%q data=%q\n", e.Type, e.Name, e.ID, e.Data)
	}
	fmt.Println("retry:", r.Retry())
	// Output:
	// type=custom name="token" id="7" data="Hello\nworld"
	// type=message name="" id="7" data="[DONE]"
	// retry: 5s
}

// Following a stream with automatic reconnection. The server ends its
// first response early; the client comes back after the server's retry
// time and resumes after the last event it saw.
func ExampleConnectSSE() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := stream.NewSSEWriter(w)
		if stream.LastEventID(r) == "" {
			sw.SetRetry(10 * time.Millisecond)
			sw.Send(stream.Event{ID: "1", Data: "first"})
			return // the connection drops
		}
		sw.Send(stream.Event{ID: "2", Data: "resumed after " + stream.LastEventID(r)})
		sw.WriteDone()
		<-r.Context().Done()
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := stream.ConnectSSE(ctx, srv.URL, stream.SSEClientConfig{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for e, err := range c.Events() {
		if err != nil {
			log.Fatal(err)
		}
		if e.Type == stream.Done {
			break
		}
		fmt.Printf("%s: %s\n", e.ID, e.Data)
	}
	// Output:
	// 1: first
	// 2: resumed after 1
}
