// Package recommend turns logged exposures and outcomes into uplift models
// and ranks candidate items for a user by the estimated causal effect of
// recommending them, falling back to popularity when no model can answer.
//
// Every model is fitted and applied through an estimator plugin
// (plugins.Estimator); the package itself holds no estimator. Its files:
//
//	request.go    the request and response of a recommendation, validation, defaults
//	ranker.go     the Ranker: one recommendation from snapshot to list
//	model.go      loading the serving model
//	modelmeta.go  the typed metadata stored with a model
//	rows.go       the feature rows of a request's candidates
//	rowcache.go   the cache of the item columns of those rows
//	features.go   the feature set of a model and its compiled plan
//	text.go       text features from the text-scorer plugins
//	scoring.go    scoring the rows with the serving model, relevance
//	place.go      the placement policies (greedy, epsilon-greedy, Plackett–Luce)
//	table.go      the training table built from the event log
//	neighbors.go  item co-occurrence for candidate generation
//	rankers.go    the rankers a model can be trained for
//	train.go      training: table, fit, store, serve
package recommend
