"""What people read: the status summary, the static report with its plots, and optuna-dashboard."""
