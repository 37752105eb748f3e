package config

import (
	"fmt"
	"strconv"
)

// Tuning is the worker's capacity: how many workflows it keeps cached and
// how much it polls and runs at once (docs/capacity.md sizes them). The
// defaults are the SDK's, except the pollers, which the product raised
// because notices are many and short.
type Tuning struct {
	// WorkflowCacheSize is the sticky cache: customers whose workflow
	// stays in memory between tasks (DUNNING_WORKFLOW_CACHE_SIZE). A
	// customer not cached is replayed from its current run's history on
	// its next task. Memory grows with it, not with the open customers.
	WorkflowCacheSize int
	WorkflowPollers   int // DUNNING_WORKFLOW_POLLERS: workflow task pollers
	ActivityPollers   int // DUNNING_ACTIVITY_POLLERS: activity task pollers
	// The most tasks of each kind run at once.
	MaxWorkflowTasks   int // DUNNING_MAX_WORKFLOW_TASKS
	MaxActivities      int // DUNNING_MAX_ACTIVITIES
	MaxLocalActivities int // DUNNING_MAX_LOCAL_ACTIVITIES (the records)
}

// DefaultTuning is the worker's tuning when nothing is set.
var DefaultTuning = Tuning{
	WorkflowCacheSize:  10000,
	WorkflowPollers:    4,
	ActivityPollers:    8,
	MaxWorkflowTasks:   1000,
	MaxActivities:      1000,
	MaxLocalActivities: 1000,
}

// tuningFromEnv reads the tuning settings: positive whole numbers, each
// below a bound that catches a typo (an extra zero) before it costs memory.
func (c *Config) tuningFromEnv(env func(key, def string) string) error {
	c.Tuning = DefaultTuning
	for _, d := range []struct {
		name string
		max  int
		to   *int
	}{
		{"DUNNING_WORKFLOW_CACHE_SIZE", 1_000_000, &c.Tuning.WorkflowCacheSize},
		{"DUNNING_WORKFLOW_POLLERS", 100, &c.Tuning.WorkflowPollers},
		{"DUNNING_ACTIVITY_POLLERS", 100, &c.Tuning.ActivityPollers},
		{"DUNNING_MAX_WORKFLOW_TASKS", 10_000, &c.Tuning.MaxWorkflowTasks},
		{"DUNNING_MAX_ACTIVITIES", 10_000, &c.Tuning.MaxActivities},
		{"DUNNING_MAX_LOCAL_ACTIVITIES", 10_000, &c.Tuning.MaxLocalActivities},
	} {
		raw := env(d.name, strconv.Itoa(*d.to))
		v, err := strconv.Atoi(raw)
		if err != nil || v < 1 || v > d.max {
			return fmt.Errorf("%s %q must be a whole number from 1 to %d", d.name, raw, d.max)
		}
		*d.to = v
	}
	// The SDK needs two workflow pollers: one for the sticky queue, one
	// for the shared one.
	if c.Tuning.WorkflowPollers < 2 {
		return fmt.Errorf("DUNNING_WORKFLOW_POLLERS %d must be at least 2 (one sticky, one shared)", c.Tuning.WorkflowPollers)
	}
	return nil
}
