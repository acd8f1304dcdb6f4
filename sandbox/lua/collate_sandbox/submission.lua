-- What the submission produces: the review snapshot (§3.1 submission.reviewSnapshot), the payer's
-- receipt and the payer's decision, and how each renders.
local json = require "collate_sandbox.json"
local questionnaire = require "collate_sandbox.questionnaire"
local catalog = require "collate_sandbox.catalog"
local timefmt = require "collate_sandbox.timefmt"

local submission = {}

function submission.render_attachment(st, att)
  local types = json.array({})
  for i, d in ipairs(att.documentTypes) do types[i] = d end
  return {
    id = att.id, fileId = att.fileId, documentTypes = types,
    label = att.label or json.null, description = att.description or json.null, createdAt = st.fmt(att.created_at),
  }
end

function submission.make_snapshot(st, a, t)
  local doc_types, seen = json.array({}), {}
  for _, att in ipairs(a.attachments) do
    for _, d in ipairs(att.documentTypes) do
      if not seen[d] then
        seen[d] = true
        doc_types[#doc_types + 1] = d
      end
    end
  end
  local payer = catalog.payer(a.payer_id)
  local atts = json.array({})
  for i, att in ipairs(a.attachments) do atts[i] = submission.render_attachment(st, att) end
  local warnings = json.array({})
  if a.scenario.safety_gate then
    warnings[1] = { code = "sandbox_final_submit_gate",
      message = "The sandbox stops this submission for approval despite the automatic policy." }
  end
  a.snapshot = {
    id = st.ids:next("rev_"), status = "current", generated_at = t,
    covers = { priorAuthorizationVersion = a.version, requirementsVersion = a.req_version,
      answersVersion = a.answers_version, attachmentsVersion = a.attachments_version },
    summary = {
      providerNpi = a.npi, payerId = a.payer_id, payerDisplayName = payer.displayName,
      coverageState = a.request.coverageState, requestType = a.request.requestType,
      serviceCode = json.copy(a.request.serviceCode),
      memberId = questionnaire.value(a.store, "coverage.memberId") or json.null, documentTypes = doc_types,
    },
    answers = questionnaire.render_answers(a.store), attachments = atts, warnings = warnings,
  }
  return a.snapshot
end

function submission.render_snapshot(st, a, s)
  return {
    id = s.id, status = s.status, kind = "final_payer_submission", generatedAt = st.fmt(s.generated_at),
    covers = json.copy(s.covers), summary = json.copy(s.summary), answers = json.copy(s.answers),
    attachments = json.copy(s.attachments), warnings = json.copy(s.warnings),
    transparency = { liveSessionEndpoint = "/v1/prior-authorizations/" .. a.id .. "/live-session" },
  }
end

local function code8(st, prefix)
  return st.ids:next(prefix):sub(#prefix + 1, #prefix + 8):upper()
end

function submission.set_receipt(st, a, t, ref, channel)
  a.receipt = { referenceNumber = ref or ("SBX-RCPT-" .. code8(st, "rcpt_")), received_at = t,
    channel = channel or "portal" }
  a.receipts = a.receipts + 1
  a.boundary = "crossed"
end

function submission.render_receipt(st, r)
  if not r then return json.null end
  return { referenceNumber = r.referenceNumber, receivedAt = st.fmt(r.received_at), channel = r.channel }
end

local function add_days(date, days)
  local e = timefmt.date_to_epoch(date)
  if not e then return nil end
  return timefmt.format_date(e + days * 86400)
end

-- The decision for an outcome; `f` overrides wire fields (forced payer events).
function submission.make_decision(st, a, outcome, t, f)
  f = f or {}
  local start = questionnaire.value(a.store, "service.startDate") or st.fmt_date(t)
  local wire = {
    authorizationNumber = json.null, payerStatusText = json.null, effectiveFrom = json.null,
    effectiveTo = json.null, modifications = json.array({}), denialReasons = json.array({}),
    details = json.object({}),
  }
  if outcome == "approved" or outcome == "modified" then
    wire.authorizationNumber = f.authorizationNumber or ("SBX-AUTH-" .. code8(st, "authno_"))
    wire.payerStatusText = f.payerStatusText or (outcome == "approved" and "Approved" or "Approved with modifications")
    wire.effectiveFrom = f.effectiveFrom or start
    wire.effectiveTo = f.effectiveTo or add_days(start, 180) or json.null
  end
  if outcome == "modified" then
    if f.modifications then
      wire.modifications = json.copy(f.modifications)
    else
      local units = questionnaire.value(a.store, "service.units") or 2
      local approved = math.max(1, math.floor(units / 2))
      wire.modifications = json.array({ { field = "service.units", requestedValue = string.format("%d", units),
        approvedValue = string.format("%d", approved), message = "Approved units reduced." } })
    end
  elseif outcome == "denied" then
    wire.payerStatusText = f.payerStatusText or "Denied"
    wire.denialReasons = f.denialReasons and json.copy(f.denialReasons) or json.array({
      { code = "medical_necessity_not_met", message = "The documentation does not establish medical necessity." } })
  end
  return { received_at = t, wire = wire }
end

function submission.render_decision(st, d)
  if not d then return json.null end
  local out = json.copy(d.wire)
  out.receivedAt = st.fmt(d.received_at)
  return out
end

return submission
