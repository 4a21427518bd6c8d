"""Use cases. Each public method is one transaction, opened here and nowhere else."""
