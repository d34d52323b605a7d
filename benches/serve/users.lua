-- wrk: each request asks for one random user's recommendations (or one random pair's
-- explanation). KGREC_IDS names a file of user ids, or "user<TAB>item" pairs; KGREC_PATH is
-- the request template with {user} and {item}.
local ids = {}
for line in io.lines(os.getenv("KGREC_IDS")) do
  local user, item = line:match("^([^\t]+)\t?(.*)$")
  ids[#ids + 1] = { user = user, item = item }
end
local template = os.getenv("KGREC_PATH")
math.randomseed(42)

request = function()
  local pick = ids[math.random(#ids)]
  -- Function replacements: ids are percent-encoded, and % is special in gsub's strings.
  local path = template:gsub("{user}", function() return pick.user end)
  path = path:gsub("{item}", function() return pick.item end)
  return wrk.format("GET", path)
end
