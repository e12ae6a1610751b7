-- Argo CD health check for schemaop.io/SchemaVersion (docs/observability.md).
-- Reads the kstatus-shaped conditions the operator writes:
--   Stalled=True          -> Degraded   (needs a person or a spec change)
--   ApprovalPending=True  -> Suspended  (kubectl schemaop approve NAME)
--   Ready=True            -> Healthy    (a Drifted schema is named in the message)
--   anything else         -> Progressing
local hs = {}
local function message(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason or ""
end
if obj.status == nil or obj.status.conditions == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the schemaop operator to report"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. obj.metadata.generation
  return hs
end
local found = {}
for _, c in ipairs(obj.status.conditions) do
  found[c.type] = c
end
if found.Stalled ~= nil and found.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = message(found.Stalled)
  return hs
end
if found.ApprovalPending ~= nil and found.ApprovalPending.status == "True" then
  hs.status = "Suspended"
  hs.message = message(found.ApprovalPending)
  return hs
end
if found.Ready ~= nil and found.Ready.status == "True" then
  hs.status = "Healthy"
  hs.message = "At version " .. (obj.status.currentVersion or "?")
  if found.Drifted ~= nil and found.Drifted.status == "True" then
    hs.message = hs.message .. "; " .. message(found.Drifted)
  end
  return hs
end
hs.status = "Progressing"
if found.Ready ~= nil then
  hs.message = message(found.Ready)
else
  hs.message = "Migrating"
end
return hs
