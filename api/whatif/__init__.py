"""What-if over the pilot's history: scenarios and the question library, answered from the
database and stored so that a link shows the same answer (`/api/v1/whatif`)."""
