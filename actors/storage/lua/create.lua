-- Create jobs, as create_jobs.lua says: its KEYS and ARGV are this script's.
--!include create_jobs.lua

return create_jobs(KEYS, ARGV)
