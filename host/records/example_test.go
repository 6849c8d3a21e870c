package records_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/causalrec/causalrec/host/records"
)

func ExampleParse() {
	csv := `kind,user,item,time,propensity
exposure,u1,i1,2024-05-01T10:00:00Z,0.5
outcome,u1,i1,1714558200,
exposure,u2,,1714558200,0.5
`
	recs, bad, err := records.Parse(strings.NewReader(csv), records.KindEvents, records.FormatAuto)
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
