import { Link } from "react-router";
import { Card, EmptyState } from "../components/ui";

export function NotFoundPage() {
  return (
    <Card>
      <EmptyState
        title="Page not found"
        description="The page you asked for does not exist here."
        action={
          <Link to="/" className="text-sm font-medium text-accent-700 hover:underline">
            Go to the dashboard
          </Link>
        }
      />
    </Card>
  );
}
