"""Side-by-side benchmarks against peer libraries (`make bench`); results in benchmarks/results/."""
