"""Administration: users, people's real names, vehicles and devices, privacy settings and zones, retention, audit log."""
