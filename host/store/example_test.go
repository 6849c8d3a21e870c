package store_test

import (
	"fmt"
	"time"

	"github.com/causalrec/causalrec/host/store"
)

func ExampleEvent_Validate() {
	e := store.Event{Kind: store.Exposure, User: "u1", Item: "i9", Time: time.Unix(1_700_000_000, 0), Propensity: 1.5}
	fmt.Println(e.Validate())
	e.Propensity = 0.25
	fmt.Println(e.Validate())
	// Output:
	// event: propensity 1.5 outside (0, 1]
	// <nil>
}

func ExampleParseURL() {
	o, err := store.ParseURL("redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster/1")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(o.MasterName, o.Addrs, o.DB)
	// Output:
	// mymaster [10.0.0.1:26379 10.0.0.2:26379] 1
}
