package sendgridfake

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"strings"
)

// MailSend is the v3 mail send request body (the parts this system uses and
// SendGrid checks).
type MailSend struct {
	Personalizations []Personalization `json:"personalizations"`
	From             *Address          `json:"from"`
	ReplyTo          *Address          `json:"reply_to,omitempty"`
	Subject          string            `json:"subject,omitempty"`
	Content          []Content         `json:"content,omitempty"`
	TemplateID       string            `json:"template_id,omitempty"`
	Categories       []string          `json:"categories,omitempty"`
	CustomArgs       map[string]string `json:"custom_args,omitempty"`
	SendAt           int64             `json:"send_at,omitempty"`
}

// Personalization is one envelope.
type Personalization struct {
	To                  []Address         `json:"to"`
	CC                  []Address         `json:"cc,omitempty"`
	BCC                 []Address         `json:"bcc,omitempty"`
	Subject             string            `json:"subject,omitempty"`
	CustomArgs          map[string]string `json:"custom_args,omitempty"`
	DynamicTemplateData map[string]any    `json:"dynamic_template_data,omitempty"`
}

// Address is a name and email.
type Address struct {
	Email string `json:"email"`
	Name  string `json:"name,omitempty"`
}

// Content is one body part.
type Content struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// SendGrid's documented limits for mail send.
const (
	maxPersonalizations = 1000
	maxRecipients       = 1000 // to + cc + bcc over all personalizations
	maxCategories       = 10
	maxCategoryLen      = 255
	maxCustomArgsBytes  = 10000
)

// Validate checks a mail send body against SendGrid's documented rules and
// returns SendGrid-style errors, one per problem. It reads the raw JSON so
// that non-string custom_args values (which SendGrid refuses) are caught.
func Validate(body []byte) []apiError {
	var errs []apiError
	bad := func(f, format string, args ...any) {
		errs = append(errs, apiError{Message: fmt.Sprintf(format, args...), Field: field(f)})
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		bad("", "The JSON body could not be parsed")
		return errs
	}
	checkStringMap := func(name string, v json.RawMessage) {
		var m map[string]any
		if json.Unmarshal(v, &m) != nil {
			bad(name, "custom_args must be an object")
			return
		}
		for k, val := range m {
			if _, ok := val.(string); !ok {
				bad(name+"."+k, "custom_args values must be strings")
			}
		}
	}
	if v, ok := raw["custom_args"]; ok {
		checkStringMap("custom_args", v)
	}
	var req MailSend
	if err := json.Unmarshal(body, &req); err != nil {
		var raws struct {
			Personalizations []map[string]json.RawMessage `json:"personalizations"`
		}
		_ = json.Unmarshal(body, &raws)
		for i, p := range raws.Personalizations {
			if v, ok := p["custom_args"]; ok {
				checkStringMap(fmt.Sprintf("personalizations.%d.custom_args", i), v)
			}
		}
		if len(errs) == 0 {
			bad("", "The JSON body does not match the mail send schema: %v", err)
		}
		return errs
	}
	if req.From == nil || !validEmail(req.From.Email) {
		bad("from.email", "The from email does not contain a valid address.")
	}
	if req.ReplyTo != nil && !validEmail(req.ReplyTo.Email) {
		bad("reply_to.email", "The reply_to email does not contain a valid address.")
	}
	switch n := len(req.Personalizations); {
	case n == 0:
		bad("personalizations", "The personalizations field is required and must have at least one personalization.")
	case n > maxPersonalizations:
		bad("personalizations", "You may not have more than %d personalizations per API request.", maxPersonalizations)
	}
	recipients := 0
	argBytes := argsSize(req.CustomArgs)
	for i, p := range req.Personalizations {
		if len(p.To) == 0 {
			bad(fmt.Sprintf("personalizations.%d.to", i), "The to array is required for all personalization objects, and must have at least one email object with a valid email address.")
		}
		for j, a := range append(append(append([]Address{}, p.To...), p.CC...), p.BCC...) {
			if !validEmail(a.Email) {
				bad(fmt.Sprintf("personalizations.%d.to.%d.email", i, j), "Does not contain a valid address.")
			}
		}
		recipients += len(p.To) + len(p.CC) + len(p.BCC)
		if req.Subject == "" && p.Subject == "" && req.TemplateID == "" {
			bad(fmt.Sprintf("personalizations.%d.subject", i), "The subject is required. You can get around this requirement if you use a template with a subject defined or if every personalization has a subject defined.")
		}
		argBytes += argsSize(p.CustomArgs)
	}
	if recipients > maxRecipients {
		bad("personalizations", "The total number of recipients must be no more than %d.", maxRecipients)
	}
	if argBytes > maxCustomArgsBytes {
		bad("custom_args", "The custom_args may not exceed %d bytes.", maxCustomArgsBytes)
	}
	if req.TemplateID == "" {
		if len(req.Content) == 0 {
			bad("content", "Unless a valid template_id is provided, the content parameter is required. There must be at least one defined content block.")
		}
		for i, c := range req.Content {
			if c.Type == "" || c.Value == "" {
				bad(fmt.Sprintf("content.%d", i), "Content blocks need a type and a non-empty value.")
			}
			if i == 0 && len(req.Content) > 1 && c.Type != "text/plain" {
				bad("content.0.type", "If present, text/plain content must be first, followed by text/html.")
			}
		}
	} else if !strings.HasPrefix(req.TemplateID, "d-") {
		bad("template_id", "The template_id must be a valid dynamic template ID (d-...).")
	}
	if len(req.Categories) > maxCategories {
		bad("categories", "You may not have more than %d categories per request.", maxCategories)
	}
	seen := map[string]bool{}
	for i, c := range req.Categories {
		if len(c) == 0 || len(c) > maxCategoryLen {
			bad(fmt.Sprintf("categories.%d", i), "A category must be 1 to %d characters.", maxCategoryLen)
		}
		if seen[c] {
			bad(fmt.Sprintf("categories.%d", i), "Categories must be unique.")
		}
		seen[c] = true
	}
	return errs
}

func validEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

func argsSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v)
	}
	return n
}
