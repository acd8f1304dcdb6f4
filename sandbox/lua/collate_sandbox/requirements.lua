-- An authorization's requirements (contract §3.1 requirements): open questions, documents the
-- scenario or the payer asked for, issues; requirements.version bumps when their content changes.
local json = require "collate_sandbox.json"
local questionnaire = require "collate_sandbox.questionnaire"

local requirements = {}

-- required_docs: {type, after}: met by an attachment of that type added after sequence `after`
-- (0 for the scenario's documents; the request's sequence for payer-requested ones, so a file
-- attached before the payer asked does not answer the request).
local function covered(a, doc)
  for _, att in ipairs(a.attachments) do
    if att.seq > doc.after then
      for _, d in ipairs(att.documentTypes) do
        if d == doc.type then return true end
      end
    end
  end
  return false
end

-- Recomputes a.req; bumps a.req_version when the content changes. Returns true when something
-- blocks confirming (an open question or document, an error issue).
function requirements.recompute(a)
  local questions, issues = questionnaire.requirements(a.store)
  local documents = {}
  local open = false
  for _, d in ipairs(a.required_docs) do
    if not covered(a, d) then
      documents[#documents + 1] = { type = d.type, message = "Document required: " .. d.type .. "." }
      if d.after > 0 then open = true end
    end
  end
  if a.payer_request then
    if open then
      issues[#issues + 1] = { code = "payer_requested_information", message = a.payer_request.message,
        field = json.null, severity = "warning" }
    else
      a.payer_request = nil
    end
  end
  local content = { questions = questions, documents = documents, issues = issues }
  local key = json.encode(content)
  if a.req_key ~= key then
    if a.req_key ~= nil then a.req_version = a.req_version + 1 end
    a.req_key = key
  end
  a.req = content
  local blockers = #questions > 0 or #documents > 0
  for _, i in ipairs(issues) do if i.severity == "error" then blockers = true end end
  return blockers
end

function requirements.render(a)
  local q, d, i = json.array({}), json.array({}), json.array({})
  for k, v in ipairs(a.req.questions) do q[k] = { linkId = v.linkId, message = v.message } end
  for k, v in ipairs(a.req.documents) do d[k] = { type = v.type, message = v.message } end
  for k, v in ipairs(a.req.issues) do
    i[k] = { code = v.code, message = v.message, field = v.field, severity = v.severity }
  end
  return { version = a.req_version, questions = q, documents = d, issues = i }
end

return requirements
