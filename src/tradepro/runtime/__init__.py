"""What every long-running process shares, and nothing of the project: running a service
until a signal (``runner``), the garbage collector's policy (``heap``), the one backoff
(``backoff``), the one retry-with-backoff helper (``retry``), and the data folder's locks
(``folder_lock``, held by ``tradepro engine`` and ``tradepro up``).

It imports only the standard library (and uvloop when installed), so every layer, the bus
adapter included, may use it."""
