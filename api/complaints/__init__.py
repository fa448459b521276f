"""311 complaints answered by the record: the supervisor's queue and the crew's own answered ones."""
