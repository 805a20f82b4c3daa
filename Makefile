# Every target is a thin wrapper around a script in scripts/ (they do the set-up).
.PHONY: run test bench chaos train validate clean

run:        ## run the assistant: actions :5055, Rasa :5005, demo site + policy :8080
	scripts/run.sh

test:       ## every test (validation, stories, held-out NLU, pytest incl. browser)
	scripts/test.sh

bench:      ## accuracy / latency / memory benchmark against Rasa's default pipeline
	scripts/bench.sh

chaos:      ## kill every process in turn under load: nothing lost (CHAOS_ARGS="--requests 100")
	scripts/chaos.sh $(CHAOS_ARGS)

train:      ## train the model if its inputs changed
	bash -c 'source scripts/lib.sh && ensure_venv && ensure_model'

clean:
	rm -rf models results .rasa
