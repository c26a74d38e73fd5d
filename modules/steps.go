package modules

// Steps is one Check or Apply of a module that converges step by step: both
// make the same reads, and each change is either done (Apply) or only listed
// (Check, Dry). A module embeds it in its own per-run state.
type Steps struct {
	Env     *Env
	Dry     bool
	Changes []string
	Notes   []string
}

// Do records desc as a change and, unless this is a dry run, says it and
// runs fn. A nil fn only records the change.
func (s *Steps) Do(desc string, fn func() error) error {
	s.Changes = append(s.Changes, desc)
	if s.Dry || fn == nil {
		return nil
	}
	s.Env.Say(desc)
	return fn()
}

// Result is the Apply result of the changes and notes recorded so far.
func (s *Steps) Result() Result { return Result{Changed: s.Changes, Notes: s.Notes} }
