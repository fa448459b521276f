"""The pilot's goals: KPI catalogue, versioned goals, the weekly scorecard and the pilot report."""
