"""Fine-tuning tasks: the task contract (:mod:`objectives.task`), one module per task, and the registry.

Kept free of imports so that the training engine can depend on the contract alone.
"""
