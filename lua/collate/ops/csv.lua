-- A small CSV reader (RFC 4180: comma separated, "quoted" fields with "" escapes and line
-- breaks, CRLF or LF). read(path) -> rows as tables keyed by the header line's names.
local M = {}

-- parse(text) -> list of records, each a list of fields
function M.parse(text)
  local records, fields, field = {}, {}, {}
  local i, n = 1, #text
  local in_quotes = false
  local function end_field()
    fields[#fields + 1] = table.concat(field)
    field = {}
  end
  local function end_record()
    end_field()
    if not (#fields == 1 and fields[1] == "") then records[#records + 1] = fields end
    fields = {}
  end
  while i <= n do
    local c = text:sub(i, i)
    if in_quotes then
      if c == '"' then
        if text:sub(i + 1, i + 1) == '"' then
          field[#field + 1] = '"'
          i = i + 1
        else
          in_quotes = false
        end
      else
        field[#field + 1] = c
      end
    elseif c == '"' then
      in_quotes = true
    elseif c == "," then
      end_field()
    elseif c == "\n" then
      end_record()
    elseif c == "\r" then
      if text:sub(i + 1, i + 1) ~= "\n" then end_record() end
    else
      field[#field + 1] = c
    end
    i = i + 1
  end
  if in_quotes then return nil, "unterminated quoted field" end
  if #field > 0 or #fields > 0 then end_record() end
  return records
end

-- read(path) -> rows ({name = value}, empty cells absent), header list; or nil, message
function M.read(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local text = f:read("*a")
  f:close()
  text = text:gsub("^\239\187\191", "") -- a UTF-8 BOM
  local records, perr = M.parse(text)
  if not records then return nil, path .. ": " .. perr end
  local header = records[1]
  if not header then return nil, path .. ": empty file" end
  for i, name in ipairs(header) do header[i] = name:match("^%s*(.-)%s*$") end
  local rows = {}
  for r = 2, #records do
    local row = {}
    for i, name in ipairs(header) do
      local v = records[r][i]
      if v ~= nil and v ~= "" then row[name] = v end
    end
    row._line = r
    rows[#rows + 1] = row
  end
  return rows, header
end

return M
