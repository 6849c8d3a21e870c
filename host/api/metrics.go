package api

import (
	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	events    prometheus.Counter
	fallbacks prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "causalrec_http_requests_total", Help: "HTTP API requests by route and status code."}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "causalrec_http_request_duration_seconds", Help: "HTTP API request latency by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}}, []string{"route"}),
		events:    prometheus.NewCounter(prometheus.CounterOpts{Name: "causalrec_events_ingested_total", Help: "Events written (duplicates excluded)."}),
		fallbacks: prometheus.NewCounter(prometheus.CounterOpts{Name: "causalrec_recommend_fallbacks_total", Help: "Recommendations that fell back to popularity."}),
	}
	reg.MustRegister(m.requests, m.latency, m.events, m.fallbacks)
	return m
}
