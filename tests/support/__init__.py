"""Helpers shared by psflow's tests: a fake clock, scripts written into a test's folder, the real
`psflow` command run in a subprocess, and the database read behind psflow's back."""
