# Strata: the two commands are `make up` and `make test` (see README.md).
.PHONY: up test down migrate extension worker bench-capture bench-l3 clean

up:            ## set everything up and run strata-worker in the foreground
	@bash scripts/up.sh

test:          ## run every test against real servers started for the purpose
	@bash scripts/test.sh

down:          ## stop the servers `make up` started
	@bash scripts/down.sh

migrate:       ## apply migrations to the running dev database
	@bash scripts/migrate.sh

extension:     ## build and install the PostgreSQL extension
	@bash scripts/build-extension.sh

worker:        ## build strata-worker (release)
	@swift build -c release --product strata-worker

bench-capture: ## trigger write overhead (pgbench) on the running dev database
	@bash scripts/bench-capture.sh

bench-l3:      ## L3 lookups vs live queries on seeded data
	@bash scripts/bench-l3.sh

clean:
	@rm -rf .build .build-* .local
	@$(MAKE) -s -C extension clean PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
