package api

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/causalrec/causalrec/host/store"
	"github.com/causalrec/causalrec/host/ui"
)

// uiCookie carries the API token of a browser that gave it once in the
// token query parameter.
const uiCookie = "causalrec_token"

// uiRoute serves a human page. With an API token set, a request must carry
// it: in the Authorization header, in the cookie set by an earlier visit,
// or once as ?token=..., which sets the cookie (HttpOnly, SameSite=Strict)
// and redirects to the page without it.
func (s *Server) uiRoute(mux *http.ServeMux, pattern string, page func(ctx context.Context, r *http.Request, buf *bytes.Buffer) error) {
	name := pattern[len("GET "):]
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		code := s.servePage(w, r, page)
		s.metrics.requests.WithLabelValues(name, strconv.Itoa(code)).Inc()
		s.metrics.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	})
}

func (s *Server) servePage(w http.ResponseWriter, r *http.Request, page func(ctx context.Context, r *http.Request, buf *bytes.Buffer) error) int {
	release, no := s.guard.admit(s.guard.clientKey(r.RemoteAddr, r.Header.Get("Authorization")))
	if no != nil {
		w.Header().Set("Retry-After", strconv.Itoa(no.retryAfter))
		return writePage(w, no.status, errorPage(no.msg))
	}
	defer release()
	if s.d.Token != "" {
		if tok := r.URL.Query().Get("token"); tok != "" {
			if subtle.ConstantTimeCompare([]byte(tok), []byte(s.d.Token)) != 1 {
				return writePage(w, http.StatusUnauthorized, loginPage("wrong token"))
			}
			http.SetCookie(w, &http.Cookie{Name: uiCookie, Value: tok, Path: "/ui/", HttpOnly: true,
				SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
			q := r.URL.Query()
			q.Del("token")
			u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
			http.Redirect(w, r, u.String(), http.StatusSeeOther)
			return http.StatusSeeOther
		}
		c, err := r.Cookie(uiCookie)
		cookieOK := err == nil && subtle.ConstantTimeCompare([]byte(c.Value), []byte(s.d.Token)) == 1
		if !cookieOK && !s.authorized(r.Header.Get("Authorization")) {
			return writePage(w, http.StatusUnauthorized, loginPage(""))
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.d.RequestTimeout)
	defer cancel()
	var buf bytes.Buffer
	if err := page(ctx, r, &buf); err != nil {
		code := statusOf(err)
		if code >= 500 {
			s.d.Logger.Error("page failed", "path", r.URL.Path, "error", err)
		}
		return writePage(w, code, errorPage(err.Error()))
	}
	return writePage(w, http.StatusOK, buf.Bytes())
}

func writePage(w http.ResponseWriter, code int, b []byte) int {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'")
	w.WriteHeader(code)
	_, _ = w.Write(b)
	return code
}

func errorPage(msg string) []byte {
	return []byte("<!doctype html><meta charset=utf-8><title>causalrec</title><p>" + html.EscapeString(msg) + "</p><p><a href=\"/ui/\">all experiments</a></p>")
}

func loginPage(msg string) []byte {
	return []byte("<!doctype html><meta charset=utf-8><title>causalrec</title><p>This page needs the API token. " +
		html.EscapeString(msg) + "</p><form method=get><input type=password name=token autocomplete=current-password>" +
		"<button>Open</button></form>")
}

func (s *Server) pageIndex(ctx context.Context, _ *http.Request, buf *bytes.Buffer) error {
	idx := ui.Index{Plugins: s.d.Plugins.List()}
	if s.d.Experiments != nil {
		list, err := s.d.Experiments.List(ctx)
		if err != nil {
			return err
		}
		// Newest first.
		for i := len(list) - 1; i >= 0; i-- {
			idx.Experiments = append(idx.Experiments, list[i])
		}
	}
	models, err := s.Models(ctx)
	if err != nil {
		return err
	}
	idx.Serving, idx.Models = models.Serving, models.Models
	return ui.RenderIndex(buf, idx)
}

func (s *Server) pageExperiment(ctx context.Context, r *http.Request, buf *bytes.Buffer) error {
	rep, err := s.ExperimentReport(ctx, r.PathValue("id"))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return &httpError{http.StatusNotFound, fmt.Sprintf("no experiment %q", r.PathValue("id"))}
		}
		return err
	}
	return ui.RenderExperiment(buf, rep, "")
}
