"""A driver's own trends, access log and data export."""
