"""Proof that a policy helps: ``augsearch train`` trains a task model with a policy and measures
top-1 on held-out data no search saw; ``augsearch compare`` does that for policies and controls
over seeds and says, with a confidence interval, whether the difference is real."""
