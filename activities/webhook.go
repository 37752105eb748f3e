package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"
)

// WebhookProvisioner asks a provisioning system to change a customer's
// subscriptions by POSTing the request as JSON. The Idempotency-Key header
// carries the event key, so the receiver can drop retries. 2xx is success;
// 408, 429 and 5xx are retried; other 4xx answers are not.
type WebhookProvisioner struct {
	URL    string
	Client *http.Client
}

// Provision implements Provisioner.
func (p *WebhookProvisioner) Provision(ctx context.Context, in ProvisionInput) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(body))
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), "ProvisioningRequest", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", in.Key)
	hc := p.Client
	if hc == nil {
		hc = &http.Client{Timeout: 20 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("provisioning webhook: %w", err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return fmt.Errorf("provisioning webhook answered %d: %s", resp.StatusCode, text)
	default:
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("provisioning webhook refused %s for %s: %d %s", in.Action, in.CustomerID, resp.StatusCode, text), "ProvisioningRefused", nil)
	}
}
