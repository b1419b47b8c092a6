"""Statistics on scores: per-item scores kept by every evaluation, weighted metrics recomputed from
them, the paired bootstrap behind every verdict, and what a trial cost."""
