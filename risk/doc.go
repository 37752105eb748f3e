// Package risk holds the pure risk rules: onboarding screening (payment
// instrument, region, sign-up velocity, email domain, credit report),
// severities for reported misuse, and the rules that flag suspicious
// activity after purchase. Like package account it does no I/O and has no
// clock: the caller passes the application, the signals it gathered (counts
// from PostgreSQL, a credit report from a provider) and the time of each
// event. Every decision carries the reasons that produced it, so staff can
// see why a customer was refused or sent to review.
//
// The thresholds, points and lists are data: config.json, bins.csv and
// disposable_domains.txt are embedded in the binary (DefaultConfig) and can
// be replaced by files on disk (LoadConfig). See README.md.
//
// Providers that do I/O (SMS, credit checks) live in risk/providers.
package risk
