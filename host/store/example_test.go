package store_test

import (
	"fmt"
	"strings"
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

func ExampleParse() {
	csv := `kind,user,item,time,propensity
exposure,u1,i1,2024-05-01T10:00:00Z,0.5
outcome,u1,i1,1714558200,
exposure,u2,,1714558200,0.5
`
	recs, bad, err := store.Parse(strings.NewReader(csv), store.KindEvents, store.FormatAuto)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range recs.Events {
		fmt.Println(e.Kind, e.User, e.Item, e.Time.UTC().Format(time.RFC3339), e.Propensity)
	}
	for _, b := range bad {
		fmt.Println(b)
	}
	// Output:
	// exposure u1 i1 2024-05-01T10:00:00Z 0.5
	// outcome u1 i1 2024-05-01T10:10:00Z 0
	// line 4: empty event item
}
