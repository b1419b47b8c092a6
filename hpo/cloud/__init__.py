"""The cloud: ``hpo modal``: what a container can reach, the checks before launch, the launch, the
Modal app (the only module that imports ``modal``), and what each container runs with its limits."""
