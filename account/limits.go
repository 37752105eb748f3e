package account

import (
	"fmt"

	"github.com/example/dunning/money"
)

// checkTotal refuses an amount that would take a running total (credit, a
// period's usage) past money.MaxMinor, so that no sum the account keeps can
// overflow int64. add is already validated (0 < add <= MaxMinor) and total
// is kept within the bound, so the comparison cannot overflow either.
func checkTotal(field string, add int64, what string, total int64) error {
	if total > money.MaxMinor-add {
		return fmt.Errorf("%s %d would take %s of %d past the maximum %d", field, add, what, total, money.MaxMinor)
	}
	return nil
}
