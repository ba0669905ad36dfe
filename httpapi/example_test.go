package httpapi_test

import (
	"fmt"
	"time"

	"github.com/commentd/commentd/httpapi"
)

// A token is signed with the server's secret; the server's verifier returns
// its subject as the acting user.
func ExampleSignToken() {
	secret := []byte("a long random secret")
	tok, err := httpapi.SignToken(secret, "alice", 24*time.Hour)
	if err != nil {
		panic(err)
	}
	v, err := httpapi.NewVerifier(secret)
	if err != nil {
		panic(err)
	}
	user, err := v.Verify(tok)
	fmt.Println(user, err)

	_, err = v.Verify(tok + "x")
	fmt.Println(err)
	// Output:
	// alice <nil>
	// unauthenticated: invalid bearer token
}
