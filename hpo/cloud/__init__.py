"""The cloud: ``hpo modal``: what a container can reach, the checks before launch, the launch, and the
Modal app (the only module that imports ``modal``)."""
