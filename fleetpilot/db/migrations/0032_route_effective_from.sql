-- Publishing a plan to the crew (issue 21, item 4): a saved version applies from a local day of
-- the city (fleetpilot.localtime), not from the moment it is saved. NULL (every version saved
-- before this, and plans imported from files) applies from the start, as current_version did.
--
-- The version that applies to a route on local day d is the newest one whose day has come:
-- route_version_on(route, d). routes.current_version stays the newest saved (what the editor
-- opens); a shift points at the version of its own day, and keeps it once it has started.
ALTER TABLE route_versions ADD COLUMN effective_from date;

CREATE FUNCTION route_version_on(route text, day date) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT max(v.version) FROM route_versions v
    WHERE v.route_id = route AND coalesce(v.effective_from, '-infinity'::date) <= day
$$;
