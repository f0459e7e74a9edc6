// Command scaledb is make bench-scale's PostgreSQL side (bench/scale.py
// runs it):
//
//	scaledb serve -dbs N     start a throwaway server (pgtest), print N
//	                         database URLs as JSON, stop it when stdin closes
//	scaledb ingest -url ...  record pull reports as concurrent boards would,
//	                         then time Status; print the numbers as JSON
//
// The URLs carry pgtest's test-only password; they are never written to
// the results.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/pinery/pinery/bench"
	"github.com/pinery/pinery/engine/backend"
	"github.com/pinery/pinery/engine/backend/pgtest"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scaledb serve -dbs N | ingest -url URL -site-dir DIR -hosts N [-runs R] [-writers W] [-reuse]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "ingest":
		err = ingest(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaledb:", err)
		os.Exit(1)
	}
}

// serve runs the server until stdin closes (the caller ended, however it
// ended) or a signal comes, then stops it and removes its files.
func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dbs := fs.Int("dbs", 1, "databases to create")
	fs.Parse(args)
	s, err := pgtest.Launch()
	if err != nil {
		return err
	}
	defer s.Stop()
	var urls []string
	for range *dbs {
		u, err := s.CreateDB()
		if err != nil {
			return err
		}
		urls = append(urls, u)
	}
	if err := json.NewEncoder(os.Stdout).Encode(map[string]any{"urls": urls}); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	select {
	case <-done:
	case <-sig:
	}
	return s.Stop()
}

func ingest(args []string) error {
	fs := flag.NewFlagSet("ingest", flag.ExitOnError)
	var in bench.Ingest
	fs.StringVar(&in.URL, "url", "", "postgres:// URL")
	siteDir := fs.String("site-dir", "", "the site whose ID the reports carry (as pinery bundle records it)")
	fs.IntVar(&in.Hosts, "hosts", 0, "boards")
	fs.IntVar(&in.Runs, "runs", 1, "reports per board")
	fs.IntVar(&in.Writers, "writers", 64, "boards reporting at once")
	fs.BoolVar(&in.Reuse, "reuse", false, "one connection per writer instead of one per report")
	fs.Parse(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	site, err := backend.SiteOf(ctx, *siteDir)
	if err != nil {
		return err
	}
	in.Site = site.ID
	res, err := in.Run(ctx)
	if err != nil {
		return err
	}
	// Status in this process too: the query alone, without pinery's start.
	b, err := backend.OpenPostgres(ctx, in.URL)
	if err != nil {
		return err
	}
	defer b.Close()
	var times []float64
	rows := 0
	for range 3 {
		t0 := time.Now()
		st, err := b.(backend.Reports).Status(ctx, in.Site)
		if err != nil {
			return err
		}
		times = append(times, time.Since(t0).Seconds())
		rows = len(st)
	}
	slices.Sort(times)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{"ingest": res, "status_query_s": times[1], "status_rows": rows, "site": in.Site})
}
