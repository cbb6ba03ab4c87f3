-- childdep-2.lua: detaches a flow child from its parent (BullMQ 6.7's
-- job.removeChildDependency): the child leaves the parent's
-- ":dependencies" and loses its "parentKey"/"parent" fields; a parent left
-- without pending children moves from waiting-children to the end of its
-- queue's wait (event "waiting", as a removal does).
-- KEYS[1] the child's job key  KEYS[2] the parent's job key
-- Returns 0 detached, 1 the child was not a pending dependency of the
-- parent (nothing changed), -1 child missing, -5 parent missing.
if rcall("EXISTS", KEYS[1]) ~= 1 then return -1 end
if rcall("EXISTS", KEYS[2]) ~= 1 then return -5 end
if not dropFromParent(KEYS[1], false, KEYS[2], nil) then return 1 end
rcall("HDEL", KEYS[1], "parentKey", "parent")
return 0
