"""Cheap base command lines of the reliability sweeps (``{run}`` is replaced by a run directory)."""

HUGE = str(10**30)

TRAIN = ["train", "--dataset", "moons", "--model", "mlp", "--epochs", "1", "--device", "cpu", "--no-progress"]
SPECTRAL = ["spectral", "--run", "{run}"]
HESSIAN = ["hessian", "--run", "{run}", "--samples", "32", "--batch-size", "32", "--device", "cpu"]
LANDSCAPE = ["landscape", "--run", "{run}", "--dims", "1", "--steps", "3", "--samples", "32"]
LANDSCAPE += ["--batch-size", "32", "--device", "cpu", "--no-progress"]
CERTIFY = ["certify", "--run", "{run}", "--sigma", "0.25", "--n0", "10", "--n", "20", "--limit", "2"]
CERTIFY += ["--batch-size", "20", "--device", "cpu", "--no-progress"]
REPORT = ["report", "--run", "{run}", "--test-points", "4", "--train-points", "32", "--device", "cpu"]
REPORT += ["--no-progress"]
