-- Example rules for the sandbox's scenarios (scripts/examples/cases.csv), for
--   collate-run --sandbox scripts/ops/advance --rules scripts/examples/rules.lua
-- Each entry is a value or a function of the case (case.id, case.payer, case.code,
-- case.answers: the CSV's answers by linkId). See docs/operations.md, "Rules".
local here = ...            -- this file's directory
local note = here .. "/clinical-note.pdf"

-- review snapshot warnings a rule may approve past; any other warning waits for a person
local HARMLESS = { sandbox_final_submit_gate = true }

return {
  -- answers beyond the CSV's: none needed here (the CSV has them all); an example of one
  -- computed from the row:
  answers = function(case, open)
    for _, link in ipairs(open.questions) do
      if link == "clinical.notes" and not case.answers["clinical.notes"] then
        return { ["clinical.notes"] = "Submitted by collate-lua rules for case " .. case.id }
      end
    end
    return nil
  end,

  -- one PDF for every document the payer asks for (clinical notes, a letter of medical necessity)
  documents = function(_, types)
    return { { path = note, document_types = types, description = "clinical note (example rules)" } }
  end,

  -- approve a final submission when its snapshot carries no warning a person should read
  approve = function(_, snapshot)
    for _, w in ipairs(snapshot.warnings or {}) do
      if not HARMLESS[w.code] then return false, "snapshot warning " .. tostring(w.code) .. " needs a person" end
    end
    return true
  end,

  -- handoffs are worked by people, except where a portal session is scripted
  handoff = nil,

  payers = {
    -- Kaiser's portal step is done by the sandbox's handoff: report it submitted
    payer_kaiser = { handoff = "submitted" },
  },

  codes = {
    -- an oncology drug: every snapshot goes to a person, whatever the payer
    -- J9035 = { approve = false },
  },
}
