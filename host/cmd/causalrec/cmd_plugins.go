package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/causalrec/causalrec/host/config"
	"github.com/causalrec/causalrec/plugins/builtin"
)

func runPlugins(ctx context.Context, s stdio, args []string) error {
	if len(args) > 0 && args[0] == "serve" {
		// The host runs its built-in plugins as "causalrec plugins serve NAME".
		if len(args) != 2 {
			return usageErr("plugins serve takes one built-in plugin name")
		}
		if _, ok := builtin.Plugins()[args[1]]; !ok {
			return usageErr("no built-in plugin %q", args[1])
		}
		return builtin.Serve(args[1])
	}
	return runGroup(ctx, s, "plugins", "The plugins: built-in ones, and the external ones a config file declares.", []subcommand{
		{"list", "start every plugin, print its name, kind, version and health, and stop it", pluginsList},
	}, args)
}

func pluginsList(ctx context.Context, s stdio, args []string) error {
	fs := flag.NewFlagSet("plugins list", flag.ContinueOnError)
	fs.SetOutput(s.err)
	cfgPath := fs.String("config", "", "config file declaring external plugins")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	fs.Usage = func() {
		fmt.Fprintln(s.err, "Usage: causalrec plugins list [--config FILE] [--json]\n\nStarts every built-in and configured plugin, prints name, kind, version,\nprotocol version, pid and health, and stops them again.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath)
	if err != nil {
		return err
	}
	m, err := newPluginHost(cfg, s.logger)
	if err != nil {
		return err
	}
	defer m.Close()
	startErr := m.Start(ctx)
	list := m.List()
	if *asJSON {
		enc := json.NewEncoder(s.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(list); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tKIND\tVERSION\tPROTOCOL\tPID\tHEALTHY\tSOURCE")
		for _, st := range list {
			src := st.Path
			if st.Builtin {
				src = "built-in"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%v\t%s\n", st.Name, st.Kind, st.Version, st.Protocol, st.PID, st.Healthy, src)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return startErr
}
