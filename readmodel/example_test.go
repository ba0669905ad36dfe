package readmodel_test

import (
	"fmt"
	"os"
	"time"

	"github.com/commentd/commentd/comment"
	"github.com/commentd/commentd/readmodel"
)

func Example() {
	dir, _ := os.MkdirTemp("", "readmodel-example")
	defer os.RemoveAll(dir)
	m, err := readmodel.Open(dir, readmodel.Options{})
	if err != nil {
		panic(err)
	}
	defer m.Close()

	at := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	err = m.Apply([]comment.Event{
		{Type: comment.TypeCreated, PictureID: "p1", CommentID: "c1", Author: "alice", Text: "nice",
			Version: 1, Position: 1, At: at},
		{Type: comment.TypeTextUpdated, PictureID: "p1", CommentID: "c1", Text: "nicer",
			Version: 2, Position: 2, At: at.Add(time.Second)},
	})
	if err != nil {
		panic(err)
	}
	body, pos, err := m.AppendList(nil, "p1", 50, "")
	fmt.Println(string(body), pos, err)
	// Output:
	// {"pictureId":"p1","comments":[{"id":"c1","pictureId":"p1","author":"alice","text":"nicer","createdAt":"2026-11-26T10:00:00.000000000Z","updatedAt":"2026-11-26T10:00:01.000000000Z","version":2}],"next":null} 2 <nil>
}
