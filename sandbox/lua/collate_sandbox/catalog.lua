-- The seed catalog (contract §6.5): payers, providers, their route options, and route resolution
-- (§2.12). Read-only data; rendered into fresh tables on every call.
local json = require "collate_sandbox.json"
local http = require "collate_sandbox.http"

local catalog = {}

local SYSTEMS = { drug = { "hcpcs", "ndc" }, outpatient = { "cpt", "hcpcs" }, inpatient = { "cpt" } }
catalog.SYSTEMS = SYSTEMS

local PAYERS = {
  { id = "payer_aetna", displayName = "Aetna", supportedStates = { "CA", "NY", "TX" },
    supportedServiceTypes = { "drug", "outpatient", "inpatient" }, aliases = { "aetna" },
    lineOfBusiness = "commercial" },
  { id = "payer_bcbs_ca", displayName = "Blue Shield of California", supportedStates = { "CA" },
    supportedServiceTypes = { "drug", "outpatient", "inpatient" }, aliases = { "bcbs ca", "blue shield ca" },
    lineOfBusiness = "commercial", brand = "Blue Cross Blue Shield" },
  { id = "payer_cigna", displayName = "Cigna", supportedStates = { "CA", "TX", "FL" },
    supportedServiceTypes = { "drug", "outpatient" }, aliases = { "cigna" }, lineOfBusiness = "commercial" },
  { id = "payer_humana", displayName = "Humana", supportedStates = { "FL", "TX" },
    supportedServiceTypes = { "drug", "inpatient" }, aliases = { "humana" }, lineOfBusiness = "medicare_advantage" },
  { id = "payer_kaiser", displayName = "Kaiser Permanente", supportedStates = { "CA", "WA" },
    supportedServiceTypes = { "outpatient", "inpatient" }, aliases = { "kaiser", "kp" },
      lineOfBusiness = "commercial" },
  { id = "payer_uhc", displayName = "UnitedHealthcare", supportedStates = { "CA", "NY", "TX", "FL" },
    supportedServiceTypes = { "drug", "outpatient", "inpatient" }, aliases = { "uhc", "united healthcare" },
    lineOfBusiness = "commercial" },
}
local PAYER_BY_ID = {}
for _, p in ipairs(PAYERS) do PAYER_BY_ID[p.id] = p end

-- routes: {payerId, state, requestType}
local PROVIDERS = {
  { npi = "1234567893", displayName = "Sunrise Hematology & Oncology", taxId = "94-1234567", routes = {
    { "payer_aetna", "CA", "drug" }, { "payer_aetna", "CA", "outpatient" }, { "payer_bcbs_ca", "CA", "drug" },
    { "payer_cigna", "CA", "drug" }, { "payer_uhc", "CA", "drug" } } },
  { npi = "1554433221", displayName = "Lakeside Family Medicine", taxId = "91-7654321", routes = {
    { "payer_bcbs_ca", "CA", "outpatient" }, { "payer_kaiser", "CA", "outpatient" },
    { "payer_kaiser", "WA", "outpatient" }, { "payer_uhc", "CA", "outpatient" } } },
  { npi = "1987654328", displayName = "Bayview Orthopedic Surgery", taxId = "74-5551234", routes = {
    { "payer_aetna", "TX", "inpatient" }, { "payer_aetna", "TX", "outpatient" }, { "payer_cigna", "TX", "outpatient" },
    { "payer_humana", "TX", "inpatient" }, { "payer_uhc", "TX", "outpatient" } } },
}
local PROVIDER_BY_NPI = {}
for _, p in ipairs(PROVIDERS) do PROVIDER_BY_NPI[p.npi] = p end

catalog.SEED_TIME = 1767225600 -- 2026-01-01T00:00:00Z, the providers' createdAt/updatedAt

local function arr(list)
  local out = json.array({})
  for i, v in ipairs(list) do out[i] = v end
  return out
end

function catalog.payer(id)
  return PAYER_BY_ID[id]
end

function catalog.provider(npi)
  return PROVIDER_BY_NPI[npi]
end

function catalog.render_payer(p)
  return {
    id = p.id, displayName = p.displayName, supportedStates = arr(p.supportedStates),
    supportedServiceTypes = arr(p.supportedServiceTypes), aliases = arr(p.aliases), status = "active",
    brand = p.brand or json.null, lineOfBusiness = p.lineOfBusiness or json.null,
  }
end

function catalog.render_provider(p, fmt)
  return {
    npi = p.npi, displayName = p.displayName, status = "active", taxId = p.taxId,
    metadata = json.object({}), createdAt = fmt(catalog.SEED_TIME), updatedAt = fmt(catalog.SEED_TIME),
  }
end

function catalog.payers()
  local list = {}
  for i, p in ipairs(PAYERS) do list[i] = p end
  table.sort(list, function(a, b) return a.id < b.id end)
  return list
end

function catalog.providers()
  local list = {}
  for i, p in ipairs(PROVIDERS) do list[i] = p end
  table.sort(list, function(a, b) return a.npi < b.npi end)
  return list
end

local function label(payer, state, rtype)
  return payer.displayName .. " " .. state .. " " .. rtype
end
catalog.label = label

function catalog.route_options(provider)
  local list = {}
  for _, r in ipairs(provider.routes) do list[#list + 1] = r end
  table.sort(list, function(a, b)
    if a[1] ~= b[1] then return a[1] < b[1] end
    if a[2] ~= b[2] then return a[2] < b[2] end
    return a[3] < b[3]
  end)
  local out = json.array({})
  for i, r in ipairs(list) do
    local payer = PAYER_BY_ID[r[1]]
    out[i] = {
      payerId = payer.id, payerDisplayName = payer.displayName, coverageState = r[2], requestType = r[3],
      supportedServiceCodeSystems = arr(SYSTEMS[r[3]]), channel = "portal", accessMode = "collate_managed",
      label = label(payer, r[2], r[3]),
    }
  end
  return out
end

local function contains(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

-- §2.12 checks in order; raises the API error, returns provider, payer on success.
function catalog.resolve(npi, payer_id, state, rtype, system)
  local provider = PROVIDER_BY_NPI[npi]
  if not provider then http.fail(404, "provider_not_found",
    "No provider with NPI " .. npi .. " in this organization.") end
  local payer = PAYER_BY_ID[payer_id]
  if not payer then http.fail(404, "payer_not_found", "No payer " .. payer_id .. " in the catalog.") end
  if not contains(payer.supportedStates, state) or not contains(payer.supportedServiceTypes, rtype) or
     not contains(SYSTEMS[rtype] or {}, system) then
    http.fail(409, "unsupported_route", string.format("%s does not serve %s %s requests with %s codes.",
      payer.displayName, state, rtype, system))
  end
  local ok = false
  for _, r in ipairs(provider.routes) do
    if r[1] == payer_id and r[2] == state and r[3] == rtype then ok = true end
  end
  if not ok then
    http.fail(409, "provider_access_not_configured", string.format("Provider %s has no configured access to %s.",
      npi, label(payer, state, rtype)))
  end
  return provider, payer
end

return catalog
