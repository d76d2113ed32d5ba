package suite

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

// Spec is a test specification in Autobahn's JSON format, for either role.
type Spec struct {
	// OutDir is where reports go.
	OutDir string `json:"outdir"`
	// URL is the address the fuzzing server listens on
	// ("ws://127.0.0.1:9001").
	URL string `json:"url,omitempty"`
	// Servers are the servers the fuzzing client tests.
	Servers []SpecServer `json:"servers,omitempty"`
	// Options are Autobahn protocol options; accepted and ignored.
	Options map[string]any `json:"options,omitempty"`
	// Cases are case patterns ("*", "6.*", "1.1.1").
	Cases []string `json:"cases"`
	// ExcludeCases are case patterns to leave out.
	ExcludeCases []string `json:"exclude-cases,omitempty"`
	// ExcludeAgentCases maps agent patterns to case patterns to leave out
	// for matching agents.
	ExcludeAgentCases map[string][]string `json:"exclude-agent-cases,omitempty"`
}

// SpecServer is one server under test.
type SpecServer struct {
	// URL is the server's WebSocket URL.
	URL string `json:"url"`
	// Agent names the server in reports; by default its Server header.
	Agent string `json:"agent,omitempty"`
	// Origin, if set, is sent in the Origin header.
	Origin string `json:"origin,omitempty"`
	// Protocols, if set, are offered as subprotocols.
	Protocols []string `json:"protocols,omitempty"`
	// Options are Autobahn protocol options; accepted and ignored.
	Options map[string]any `json:"options,omitempty"`
}

// ReadSpec reads a spec file.
func ReadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("spec %s: %w", path, err)
	}
	if len(s.Cases) == 0 {
		s.Cases = []string{"*"}
	}
	return &s, nil
}

// ResolveCases returns the spec's case IDs.
func (s *Spec) ResolveCases() ([]string, error) {
	return ResolveCases(s.Cases, s.ExcludeCases)
}

// Excluder compiles exclude-agent-cases into a function reporting whether a
// case is to be skipped for an agent.
func (s *Spec) Excluder() (func(agent, id string) bool, error) {
	type rule struct {
		agent *regexp.Regexp
		cases []*regexp.Regexp
	}
	var rules []rule
	for a, cs := range s.ExcludeAgentCases {
		ar, err := casePattern(a, true)
		if err != nil {
			return nil, err
		}
		r := rule{agent: ar}
		for _, c := range cs {
			cr, err := casePattern(c, true)
			if err != nil {
				return nil, err
			}
			r.cases = append(r.cases, cr)
		}
		rules = append(rules, r)
	}
	return func(agent, id string) bool {
		for _, r := range rules {
			if !r.agent.MatchString(agent) {
				continue
			}
			for _, c := range r.cases {
				if c.MatchString(id) {
					return true
				}
			}
		}
		return false
	}, nil
}
