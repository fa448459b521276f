"""Street routing that both the product and the simulator use: turns between street traversals.

A package of its own because two rooms need the same rule and may not import each other: the
planner (``fleetpilot.analytics.whatif``) plans over it, and the simulator (``fleetsim``, a black
box that imports no server code) drives over it, so a truck in the simulator never takes a turn
the planner would refuse (decision 0030). Pure numpy/scipy; it imports neither of them.

    traversals.py   the traversal graph: one-way streets, turn penalties, forbidden turns
"""
