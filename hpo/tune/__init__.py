"""``hpo tune``: from a folder of data and a budget to a tested model. Infers the task and columns,
probes this hardware, plans the study for the budget, and runs the steps a user would run by hand
(create-study, baseline, workers, confirm, best, train), each as the same code those commands run."""
