"""Chaos run (issue 21): nothing lost whatever fails.

    python -m bench.chaos [--requests 1000] [--visitors 8] [--kills-each 5] [--json out.json]
    make chaos

Starts the production-shaped stack on loopback: PostgreSQL (the records and the
tracker store), Redis (socket.io between replicas and the lock store), Request
Tracker 5 (the ticket backend), two action servers behind a small TCP balancer (as a
Kubernetes Service would be), and two Rasa replicas; a local SMTP server (STARTTLS,
AUTH) receives the mails. Then `--visitors` visitors, half over REST and half over
socket.io as the widget speaks, file `--requests` verified requests (ask for a copy,
give an address, read the code from the SMTP server, type it, say yes), while a chaos
loop SIGKILLs one process at a time at random (a Rasa replica, an action server,
PostgreSQL, Redis, RT; each kind in turn, shuffled every round) and restarts it.

Visitors behave as real clients: a message that gets no answer (connection refused
or dropped, a 503, no reply) is sent again, with the same client message id, once a
server answers again; a REST visitor goes to the other replica when its own is down
(what a load balancer does), a socket.io visitor reconnects to a live replica and
asks for its session again, as the widget does.

At the end (all processes up, deliveries given time to finish) it prints ONE line:
visitors; references told; kills per process; requests with exactly one ticket;
duplicates; references told but missing; conversations that lost their place (asked
again for an address already verified, or for a code already accepted); the longest
wait for an answer after each kind of kill. `--json` writes the same figures.

Every loop is bounded in count and time; every server listens on 127.0.0.1 only.
Nothing personal is printed: addresses are made up, codes never leave this process.

The package, by concern:
    common.py     paths, the patterns and limits every part shares, the log line
    processes.py  one restartable process each (PostgreSQL, Redis, RT, an action server,
                  a Rasa replica) and the TCP balancer in front of the action servers
    stack.py      the whole stack on loopback: start, stop, the codes the SMTP server got
    killer.py     the chaos loop: SIGKILL one process at a time and restart it
    visitors.py   the REST and socket.io visitors and what they tally
    verdict.py    tickets per reference, duplicates, lost places; the one line
    __main__.py   the command line
"""
