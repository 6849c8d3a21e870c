package recommend

// Rankers a model can be trained for (TrainOptions.Ranker); the response
// of a recommendation names the ranker as RankerName does.
const (
	// RankUplift ranks by the effect predicted by the estimator plugin.
	RankUplift = "uplift"
	// RankDLCE ranks by DLCE (Sato et al. 2020), fitted by the estimator
	// plugin as estimator "dlce" with the user and item id columns.
	RankDLCE = "dlce"
	// RankOutcome ranks by P(outcome | features), a logistic regression
	// on every row, fitted by the estimator plugin as estimator
	// "outcome".
	RankOutcome = "outcome"
	// RankOutcomeIPS ranks by the outcome if recommended: the same fitted
	// on the treated rows weighted by 1/max(propensity, 0.01), estimator
	// "outcome-ips".
	RankOutcomeIPS = "outcome-ips"
	// RankPopularity ranks by the number of outcomes of each item.
	RankPopularity = "popularity"
)

// Rankers lists the rankers Train accepts.
var Rankers = []string{RankUplift, RankDLCE, RankOutcome, RankOutcomeIPS, RankPopularity}

// RankerName is the name a response gives the ranker of a model: the
// ranker, or "uplift:<estimator>" for RankUplift.
func RankerName(ranker, estimator string) string {
	if ranker == RankUplift || ranker == "" {
		return "uplift:" + estimator
	}
	return ranker
}
